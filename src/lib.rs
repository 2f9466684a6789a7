//! azure-twins (under construction).
