//! Emulator (under construction).
