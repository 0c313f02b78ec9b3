//! Git-backed model sources: the `git+URL[#REF][:SUBDIR]` grammar
//! ([`Spec`]), credential redaction ([`redact`]), checking a source out
//! into a temporary directory ([`checkout`]), asking a remote where a
//! reference points now ([`remote_commit`]), and the check of a recorded
//! [`Origin`].
//!
//! Everything runs the `git` command with `std::process::Command`:
//! blocking, no async runtime, never interactive (no terminal prompt, no
//! askpass, ssh in batch mode), and everything git prints is redacted
//! before it reaches an error message. Credentials in an http(s) URL are
//! handed to git and nowhere else: the recorded repository is the URL
//! without them.
//!
//! **Architecture invariant:** only the client side runs git (the CLI,
//! through `keel-core`); a server never clones what a client names, so a
//! `git+file://` URL cannot read the server's disk.

#![warn(missing_docs)]

mod checkout;
mod error;
mod origin;
mod redact;
mod remote;
mod run;
mod spec;
#[cfg(test)]
mod tests;

pub use checkout::{Checkout, checkout};
pub use error::{Error, Result};
pub use origin::Origin;
pub use redact::redact;
pub use remote::{RefState, remote_commit};
pub use spec::{Spec, is_spec};
