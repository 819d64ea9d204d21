//! The schema is checked in as `graphql/schema.graphql`: every API change is
//! visible in review. Regenerate with `UPDATE_SCHEMA=1 cargo test -p crm-graphql --test schema_sdl`.

#[tokio::test]
async fn checked_in_schema_matches_the_code() {
    let dir = std::env::temp_dir().join(format!("crm-sdl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let crm = crm_core::Crm::connect(&format!("sqlite://{}", dir.join("sdl.db").display()))
        .await
        .expect("database");
    let sdl = crm_graphql::build_schema(crm, std::sync::Arc::new(crm_graphql::NoPluginAdmin)).sdl();
    let _ = std::fs::remove_dir_all(&dir);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).expect("write schema.graphql");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == sdl,
        "graphql/schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test -p crm-graphql --test schema_sdl` and review the diff"
    );
}
