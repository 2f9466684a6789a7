//! azure-twins (under construction).
pub mod raw;
mod pipeline;
