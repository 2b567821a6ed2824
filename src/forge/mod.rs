//! forge: pull requests that open, update and close themselves (issue 4, in progress).
//!
//! Takes the verified remediations of `redress fix` and gives pull requests on a Git forge:
//! `github` talks to the GitHub REST API through octocrab, `git` builds one commit per pull
//! request on the latest base branch and pushes it with git2.
