//! Integration tests of `redress fix`: the binary end to end on repositories the tests write.
