//! Integration tests of the forge: a stateful fake GitHub API and a git remote on loopback.
