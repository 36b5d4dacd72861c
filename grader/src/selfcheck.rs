//! `cargo xtask check`: the authoring self-check. placeholder
