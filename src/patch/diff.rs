//! patch: unified diffs of edited files, made with `similar`.

/// The unified diff between two versions of the file at `path` (repository-relative, shown
/// as `a/PATH` and `b/PATH` like git), with three lines of context. Empty when equal.
pub fn unified(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_the_file_and_shows_only_the_change() {
        let old = "a: 1\nb: 2\n";
        let new = "a: 1\nb: 3\n";
        let d = unified("x/y.yaml", old, new);
        assert!(d.starts_with("--- a/x/y.yaml\n+++ b/x/y.yaml\n"), "{d}");
        assert!(d.contains("-b: 2\n+b: 3\n"), "{d}");
        assert_eq!(unified("x", old, old), "");
    }
}
