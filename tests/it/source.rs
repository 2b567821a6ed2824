//! Integration tests of repositories and render roots.
