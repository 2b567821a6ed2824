//! Integration tests, one module per stage, compiled into one binary.

mod chart;
mod cli;
mod edits;
mod fake_github;
mod fake_kube;
mod fix;
mod forge;
mod forge_git;
mod git_http;
mod live;
mod reconcile;
mod serve;
mod source;
mod support;
mod sweep;
mod watch;
