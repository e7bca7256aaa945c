// `sqlx::migrate!` embeds `migrations/` when the crate compiles; without this, a migration added
// or edited alone (no source file changed) would not be in the next build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
