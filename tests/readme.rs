//! The README's configuration table is generated from the settings' declarations, which
//! the loader itself reads, so it cannot drift. Regenerate with
//! `UPDATE_README=1 cargo test --test readme`.

use app_metrics::Config;

const START: &str = "<!-- config-table:start (generated from Config::env_vars(); UPDATE_README=1 cargo test --test readme) -->";
const END: &str = "<!-- config-table:end -->";

fn table() -> String {
    let mut table =
        String::from("| variable | set from code | default | meaning |\n|---|---|---|---|\n");
    for var in Config::env_vars() {
        let default = match var.default_text() {
            text if text.starts_with('(') => text,
            text => format!("`{text}`"),
        };
        let secret = if var.sensitive {
            " (secret: never logged)"
        } else {
            ""
        };
        table.push_str(&format!(
            "| `{}` | `{}::{}` | {} | {}{} |\n",
            var.name,
            var.builder,
            var.setter,
            default,
            var.description.replace('|', "\\|"),
            secret
        ));
    }
    table
}

#[test]
fn readme_config_table_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let start = readme
        .find(START)
        .expect("README has the config-table start marker")
        + START.len();
    let end = readme
        .find(END)
        .expect("README has the config-table end marker");
    let expected = format!("\n{}", table());
    if readme[start..end] != expected {
        if std::env::var_os("UPDATE_README").is_some() {
            std::fs::write(
                path,
                format!("{}{}{}", &readme[..start], expected, &readme[end..]),
            )
            .expect("write README");
        } else {
            panic!(
                "README's configuration table differs from Config::env_vars(); run `UPDATE_README=1 cargo test --test readme`\nexpected:\n{expected}"
            );
        }
    }
}
