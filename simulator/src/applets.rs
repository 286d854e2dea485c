//! The applet set every simulated card carries (the applications are chosen by the profile's
//! files: an applet without its ADF on the card is never selected).

use cos_core::applet::Applet;

/// One of each application crate of the suite.
pub fn standard_applets() -> Vec<Box<dyn Applet>> {
    vec![Box::new(e_purse::EPurse::default())]
}

/// Application state worth showing in `cos-sim info` (balances, counters, loans), one line each.
pub fn describe_state(_store: &dyn cos_core::nvm::Storage) -> Vec<String> {
    Vec::new()
}
