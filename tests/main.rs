//! Integration tests: the real `finsam` binary against temporary stores.

mod log;
mod schemas;
mod support;
