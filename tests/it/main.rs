//! Integration tests, one module per stage, compiled into one binary.

mod cli;
