//! The cutting proxy.
