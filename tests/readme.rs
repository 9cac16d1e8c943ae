//! The README's code, as a newcomer would use it:
//!
//! - every complete example (a ```` ```rust ```` block) shows all of itself
//!   (no hidden `# ` lines) and builds in a new crate whose only
//!   dependencies are the README's own dependency block;
//! - every excerpt (a ```` ```rust,ignore ```` block, which names things set
//!   up around it) is compiled here, word for word, in [`excerpts`], inside
//!   a function that is given what the excerpt assumes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The fenced blocks of `text` whose info string is `info`, each with the
/// line it starts on.
fn blocks(text: &str, info: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        match &mut open {
            None if line.starts_with("```") => {
                open = Some((number + 1, String::new()));
                if line.trim_start_matches('`') != info {
                    open = Some((0, String::new()));
                }
            }
            None => {}
            Some(_) if line == "```" => {
                let (start, body) = open.take().unwrap();
                if start != 0 {
                    found.push((start, body));
                }
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(open.is_none(), "a code block of README.md is not closed");
    found
}

/// `text` without white space, to compare code across line breaks.
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn complete_examples_hide_nothing() {
    let examples = blocks(&readme(), "rust");
    assert!(examples.len() >= 4, "{} examples", examples.len());
    for (line, code) in examples {
        assert!(
            !code.lines().any(|row| row == "#" || row.starts_with("# ")),
            "the example at README.md:{line} hides lines from the reader"
        );
        assert!(
            code.contains("fn main()"),
            "the example at README.md:{line} is not a complete program"
        );
    }
}

#[test]
fn every_excerpt_is_compiled_here_word_for_word() {
    let here = squeezed(&std::fs::read_to_string(file!()).unwrap());
    let excerpts = blocks(&readme(), "rust,ignore");
    assert!(!excerpts.is_empty());
    for (line, code) in excerpts {
        assert!(
            here.contains(&squeezed(&code)),
            "the excerpt at README.md:{line} is not in tests/readme.rs's `excerpts`: \
             copy it there (inside a function given what it assumes)"
        );
    }
}

/// The target directory this test was built in (`CARGO_TARGET_DIR` or the
/// workspace's `target`): this binary is `<target>/<profile>/deps/readme-…`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        Path::to_path_buf,
    )
}

/// The README's dependency block: the first TOML block with a
/// `[dependencies]` table that lists `approvals`.
fn dependency_block(readme: &str) -> String {
    blocks(readme, "toml")
        .into_iter()
        .map(|(_, block)| block)
        .find(|block| block.contains("[dependencies]") && block.contains("approvals = "))
        .expect("README.md shows a dependency block")
}

#[test]
fn complete_examples_build_in_a_new_crate_with_the_dependencies_shown() {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = readme();
    let dependencies = dependency_block(&readme);
    // The crate from crates.io is this checkout here.
    let local = format!("path = {:?}", workspace.display().to_string());
    let dependencies = dependencies
        .replace("approvals = \"0.1\"", &format!("approvals = {{ {local} }}"))
        .replace("version = \"0.1\"", &local);
    assert!(
        !dependencies.contains("\"0.1\""),
        "every mention of approvals was replaced: {dependencies}"
    );

    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"readme-examples\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n\n{dependencies}"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/lib.rs"), "").unwrap();
    std::fs::create_dir_all(root.join("examples")).unwrap();
    let examples = blocks(&readme, "rust");
    for (line, code) in &examples {
        std::fs::write(root.join(format!("examples/readme_{line}.rs")), code).unwrap();
    }
    // The versions this checkout is tested with, so that nothing is fetched.
    std::fs::copy(workspace.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();

    let output = Command::new(env!("CARGO"))
        .args(["build", "--examples", "--offline", "--quiet"])
        .arg("--target-dir")
        .arg(target_dir().join("readme-examples"))
        .current_dir(root)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the README's examples do not build with its dependency block:\n{dependencies}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The README's excerpts, each inside a function given what it assumes.
/// Compiled with the crate's tests; never called.
#[rustfmt::skip]
#[allow(dead_code, unused_variables, clippy::unused_async)]
mod excerpts {
    use std::error::Error;

    use approvals::Gate;
    use approvals::audit::MemoryAudit;
    use approvals::policy::Policy;
    use approvals::slack::SlackChannel;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    type Result = std::result::Result<(), Box<dyn Error>>;

    /// "OpenTelemetry".
    async fn otel() -> Result {
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name("agent").build())
            .build();
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("approvals")))
            .init();
        // … gated calls …
        provider.shutdown()?; // sends what is batched
        Ok(())
    }

    /// "Metrics".
    async fn metrics() -> Result {
        let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
        approvals::telemetry::enable();
        // … build the gate as usual; serve `prometheus.render()` on /metrics …
        Ok(())
    }

    /// "Test a policy before you deploy it", shadow mode.
    async fn shadow(audit: MemoryAudit) -> Result {
        let gate = Gate::builder()
            .policy(Policy::from_toml_file("policy.toml")?)
            .shadow_policy(Policy::from_toml_file("policy.next.toml")?) // evaluated, never decides
            .audit(audit)
            .build();
        // Later: gate.set_policy(..) to promote it, gate.set_shadow_policy(None) to stop.
        Ok(())
    }

    /// "Approve with edits", with the attribute.
    mod attribute_edits {
        use approvals::{Error, requires_approval};

        #[requires_approval(approvers = ["finance@example.com"])]
        async fn refund(customer: &str, #[approval(editable)] amount_cents: u64) -> Result<u64, Error> {
            Ok(amount_cents) // as approved: 42_000 if a reviewer changed it
        }
    }

    /// "Durable and replicated", one machine.
    async fn sqlite(policy: Policy, slack: SlackChannel) -> Result {
        let gate = Gate::builder()
            .policy(policy)
            .channel(slack)
            .store(approvals::store::SqliteStore::open("/var/lib/agent/approvals.db").await?)
            .audit(approvals::audit::JsonlAudit::open("/var/lib/agent/audit.jsonl")?)
            .build();
        Ok(())
    }

    /// "Durable and replicated", replicas.
    async fn postgres(policy: Policy, slack: SlackChannel) -> Result {
        use approvals::audit::PostgresAudit;
        use approvals::store::PostgresStore;

        let url = std::env::var("DATABASE_URL")?;
        let store = PostgresStore::builder(&url).schema("approvals").connect().await?;
        let audit = PostgresAudit::connect(&url, "approvals_audit").await?;
        let gate = Gate::builder().policy(policy).channel(slack).store(store).audit(audit).build();
        Ok(())
    }

    /// "Microsoft Teams".
    async fn teams() -> Result {
        use approvals::teams::{Conversation, StaticDirectory, TeamsChannel, TeamsConfig};

        let teams = TeamsChannel::builder(
            TeamsConfig::new(
                "<bot app id>",
                "<client secret>",
                "<tenant id>",
                Conversation::new("https://smba.trafficmanager.net/emea/", "19:…@thread.tacv2"),
            ),
            // Teams names users by their Entra ID object id; policies name identities.
            StaticDirectory::new()
                .user("<alice's object id>", "alice@example.com")
                .user("<bob's object id>", "bob@example.com"),
        )
        .build()?;

        // The messaging endpoint, at /api/messages. `teams.inbound().handle(..)`
        // takes and returns `http` types for other frameworks.
        let listener = tokio::net::TcpListener::bind("0.0.0.0:3978").await?;
        let router = teams.inbound().router();
        tokio::spawn(async move { axum::serve(listener, router).await });

        // Then: Gate::builder().channel(teams)…
        Ok(())
    }

    /// "The HTTP API".
    async fn http(policy: Policy, audit: MemoryAudit) -> Result {
        use approvals::http::{HttpChannel, StaticTokens, Webhook};

        let approver = HttpChannel::builder()
            .authenticator(StaticTokens::new().token(std::env::var("OPS_TOKEN")?, "ops@example.com"))
            .webhook(Webhook::new("https://hooks.example.com/approvals", std::env::var("WEBHOOK_SECRET")?))
            .build()?;
        let gate = Gate::builder().policy(policy).channel(approver.clone()).audit(audit).build();
        let app = axum::Router::new().nest("/approvals", approver.router());
        Ok(())
    }

    /// "The terminal".
    async fn terminal(policy: Policy, audit: MemoryAudit) -> Result {
        let gate = Gate::builder()
            .policy(policy)
            .channel(approvals::terminal::TerminalChannel::new().voter("me@example.com"))
            .audit(audit)
            .build();
        Ok(())
    }
}
