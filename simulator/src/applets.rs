//! The applet set every simulated card carries (the applications are chosen by the profile's
//! files: an applet without its ADF on the card is never selected).

use cos_core::applet::Applet;

/// One of each application crate of the suite.
pub fn standard_applets() -> Vec<Box<dyn Applet>> {
    vec![
        Box::new(e_purse::EPurse::default()),
        Box::new(library_loan::Library::default()),
        Box::new(social_insurance::SocialInsurance::directory()),
        Box::new(social_insurance::SocialInsurance::medical()),
        Box::new(transit::Transit::default()),
        Box::new(transit::Ppse::default()),
    ]
}

/// Application state worth showing in `cos-sim info` (balances, counters, loans), one line each.
pub fn describe_state(store: &dyn cos_core::nvm::Storage) -> Vec<String> {
    let mut lines = Vec::new();
    lines.extend(crate::terminals::library::describe(store));
    lines.extend(crate::terminals::hospital::describe(store));
    lines.extend(crate::terminals::transit::describe(store));
    lines
}
