//! Names in free text, found with the gazetteer and the context around
//! them: every context that makes a capitalized word a name, and the
//! capitalized words that must stay visible (common words that are also
//! names, products, places, months, headings).

use approvals_core::mask::{Kind, MaskingEngine};

/// The names found in `text`, as text.
fn names(text: &str) -> Vec<&str> {
    MaskingEngine::new()
        .detect(text)
        .into_iter()
        .filter(|found| found.kind == Kind::Name)
        .map(|found| &text[found.range])
        .collect()
}

#[track_caller]
fn finds(text: &str, expected: &[&str]) {
    let found = names(text);
    for name in expected {
        assert!(
            found.iter().any(|f| f.contains(name)),
            "{name:?} not masked in {text:?}: {found:?}"
        );
    }
}

#[track_caller]
fn finds_none(text: &str) {
    let found = names(text);
    assert!(found.is_empty(), "{text:?}: {found:?}");
}

#[test]
fn a_given_name_and_a_family_name_in_a_sentence() {
    finds(
        "The ticket was reopened after Megan Maur called.",
        &["Megan Maur"],
    );
    finds(
        "have you heard Janina Hartmann speak yet?",
        &["Janina Hartmann"],
    );
    finds("Sue Hague employs corporate lawyers", &["Sue Hague"]);
    finds("Refund approved for Crisólogo López today", &["López"]);
}

#[test]
fn a_name_with_an_initial_or_a_particle() {
    finds("Lena P Wirth, the nurse practitioner", &["Lena P Wirth"]);
    finds("says Yuuto E. Oosawa in an interview", &["Yuuto E. Oosawa"]);
    finds(
        "Escalated to Ludwig van Beethoven",
        &["Ludwig van Beethoven"],
    );
}

#[test]
fn a_known_given_name_alone() {
    finds("Timothy approved the refund", &["Timothy"]);
    finds("I talked to Megan yesterday", &["Megan"]);
    finds("Reassigned the case to O'Brien", &["O'Brien"]);
}

#[test]
fn a_surname_alone_after_a_lead_or_before_a_possessive() {
    finds("The release was signed off by Hartmann.", &["Hartmann"]);
    finds("We need Kowalski's approval", &["Kowalski"]);
    finds("Howard: You saved my life!", &["Howard"]);
}

#[test]
fn an_unknown_name_after_a_word_that_announces_a_person() {
    finds("I'm so jealous! said Sanela to Mandy", &["Sanela", "Mandy"]);
    finds("Sometimes people call me Nusa", &["Nusa"]);
    finds("My name is Alibek Godina.", &["Alibek Godina"]);
    finds("Her maiden name is Alfreðsdóttir", &["Alfreðsdóttir"]);
}

#[test]
fn names_listed_after_a_name() {
    finds(
        "Ask Megan, Kowalczyk and Butte for a review",
        &["Megan", "Kowalczyk", "Butte"],
    );
    finds(
        "signed by Hartmann and Dörschner",
        &["Hartmann", "Dörschner"],
    );
    // What follows a name in a list is no name when it is a place, a
    // month or a company.
    let found = names("Megan and Paris, then Timothy and Acme Inc");
    assert_eq!(found, ["Megan", "Timothy"]);
}

#[test]
fn titles_greetings_and_keys() {
    finds("Dear Mrs. Summer,", &["Summer"]);
    finds(
        "detained tennis player Frau Gunda Hartmann",
        &["Gunda Hartmann"],
    );
    finds("Hi Grant, the deploy is done", &["Grant"]);
    finds(
        r#"{"full_name": "Will White", "assignee": "Rose Long"}"#,
        &["Will White", "Rose Long"],
    );
    finds("customer: May Young", &["May Young"]);
    finds("Dott. Camilleri is 62", &["Camilleri"]);
}

#[test]
fn a_common_word_that_is_also_a_name_needs_a_surname_or_a_lead() {
    // Both are common words: only a lead makes them a name.
    finds_none("May White paint be used here?");
    finds("The report by May White is late", &["May White"]);
    // A common given name before a surname that is no common word.
    finds("Will Hartmann joined the call", &["Will Hartmann"]);
    finds("Approved with Will Smith on the call", &["Will Smith"]);
    for text in [
        "Will the deploy finish tonight?",
        "Mark the ticket as done",
        "Bill the customer for March",
        "Grant access to the staging bucket",
        "Hope this helps",
        "Rose Garden tickets are sold out",
        "Summer sale starts Monday",
        "Long running query on the primary",
        "White space is trimmed",
        "Young adults are the target audience",
    ] {
        finds_none(text);
    }
}

#[test]
fn capitalized_words_that_are_not_names_stay_visible() {
    for text in [
        "ERROR Connection refused: retrying in 5 seconds",
        "Deployed to Paris and London regions",
        "The build on Travis failed, Jenkins is green",
        "Meeting moved to April 12, then to Friday",
        "We moved here from Australia",
        "Shipping to New York and San Diego",
        "Order placed at Walker Inc for 12 units",
        "Turn left on Jordan Street",
        "Upgrade Kubernetes Dashboard to the latest release",
        "Install Visual Studio Code and Docker Desktop",
        "SELECT * FROM Users WHERE id = 4",
        "Italy was super fun to visit!",
        "Thanks for the Quick Start Guide",
        "GET /api/Megan/orders returned 404",
        "HttpClient timed out; see TaylorSwiftParser.java",
        "I quit a few months ago. Now I'm unemployed.",
    ] {
        finds_none(text);
    }
}

#[test]
fn a_name_is_masked_in_the_text_the_reviewer_sees() {
    let masked = MaskingEngine::new().mask_str("Refund approved by Janina Hartmann after review");
    assert!(
        !masked.contains("Janina") && !masked.contains("Hartmann"),
        "{masked}"
    );
    assert!(masked.starts_with("Refund approved by ") && masked.ends_with(" after review"));
}
