//! Rebuilds the crate when the rule or mapping data changes: both folders are embedded in the
//! binary with include_dir, which cargo cannot see on its own.

fn main() {
    println!("cargo:rerun-if-changed=rules");
    println!("cargo:rerun-if-changed=mappings");
}
