//! Integration tests, one module per stage, compiled into one binary.

mod cli;
mod edits;
mod fake_kube;
mod fix;
mod forge;
mod live;
mod source;
mod support;
