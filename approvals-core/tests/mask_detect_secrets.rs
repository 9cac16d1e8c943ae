//! detect-secrets' false-positive samples (`tests/data/detect_secrets`):
//! the texts its plugin tests say must not be flagged. What this engine
//! masks among them is listed here exactly, per plugin, so that a change
//! shows: values after a secret-like key, which are masked whatever they
//! look like (detect-secrets leaves out placeholders and values that say
//! `fake`), tokens with a service's prefix that detect-secrets' own rule
//! for that plugin refuses (a GitHub token under the GitLab plugin, an
//! OpenAI key without its marker), and personal data, which detect-secrets
//! does not look for.

#![allow(clippy::expect_used)]

use std::collections::BTreeMap;

use approvals_core::mask::{Kind, MaskingEngine};
use serde::Deserialize;

#[derive(Deserialize)]
struct Sample {
    plugin: String,
    text: String,
}

fn samples() -> Vec<Sample> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/detect_secrets/false_positives.jsonl"
    );
    std::fs::read_to_string(path)
        .expect("read the samples")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a sample"))
        .collect()
}

#[test]
fn what_is_masked_among_detect_secrets_false_positives_is_known() {
    let engine = MaskingEngine::new();
    let samples = samples();
    assert_eq!(samples.len(), 96);
    // Per plugin: samples, and those masked as a secret.
    let mut per_plugin: BTreeMap<&str, (usize, Vec<&str>)> = BTreeMap::new();
    let mut other = Vec::new();
    for sample in &samples {
        let entry = per_plugin.entry(&sample.plugin).or_default();
        entry.0 += 1;
        for found in engine.detect(&sample.text) {
            if found.kind == Kind::Secret {
                entry.1.push(&sample.text);
            } else {
                other.push((
                    sample.plugin.as_str(),
                    found.kind,
                    &sample.text[found.range],
                ));
            }
        }
    }
    assert_eq!(per_plugin.len(), 20, "{per_plugin:?}");
    let masked: Vec<(&str, &str)> = per_plugin
        .iter()
        .flat_map(|(&plugin, (_, secrets))| secrets.iter().map(move |&text| (plugin, text)))
        .collect();
    let after_a_key = [
        ("cloudant", "cloudant_password = \"a-fake-tooshort-key\""),
        ("cloudant", "cl_api_key = \"a-fake-api-key\""),
        ("ibm_cloud_iam", "CLOUD_APIKEY: \"insert_key_here\""),
        ("ibm_cos_hmac", "not_secret = notapassword"),
        ("ibm_cos_hmac", "someotherpassword = \"doesnt start right\""),
        ("softlayer", "SOFTLAYER_APIKEY: \"insert_key_here\""),
        ("softlayer", "sl-apikey: \"insert_key_here\""),
    ];
    let prefixed = [
        ("gitlab_token", "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"),
        (
            "openai",
            "sk-proj-Xi8tdMjHV6pmbBbwilTeT4BlbkFJ3UDnpdEwNNm6wVBpYM0o",
        ),
        (
            "pypi_token",
            "pypi-AgEIcHlwaS5vcmcCJDU3OTM1MjliLWIyYTYtNDEwOC05NzRkLTM0MjNiNmEwNWIzYgACF1sxLFsibWluaW1h",
        ),
    ];
    let mut expected: Vec<(&str, &str)> = after_a_key.into_iter().chain(prefixed).collect();
    expected.sort_unstable();
    let mut found = masked;
    found.sort_unstable();
    assert_eq!(found, expected, "per plugin: {per_plugin:?}");
    // Private addresses and an email are personal data here; so is the
    // name in a JWT-shaped text that is not a JWT.
    let expected = [
        ("ip_public", Kind::IpAddress, "127.0.0.1"),
        ("ip_public", Kind::IpAddress, "10.0.0.1"),
        ("ip_public", Kind::IpAddress, "172.16.0.1"),
        ("ip_public", Kind::IpAddress, "192.168.0.1"),
        ("ip_public", Kind::IpAddress, "169.254.169.254"),
        ("ip_public", Kind::IpAddress, "1.2.3.04"),
        ("ip_public", Kind::Email, "noreply@github.com"),
        ("jwt", Kind::Name, "Jon Doe"),
    ];
    assert_eq!(other, expected);
}
