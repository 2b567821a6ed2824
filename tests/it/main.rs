//! Integration tests, one module per stage, compiled into one binary.

mod cli;
mod fake_kube;
mod live;
