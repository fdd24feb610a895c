//! What the gateway remembers for a while so as not to ask a service on every request:
//! verified tokens (`verified`), confirmed memberships (`members`) and display names
//! (`names`), and the protocol that keeps the first two coherent with changes (`watched`).

pub(crate) mod members;
pub(crate) mod names;
pub(crate) mod verified;
pub(crate) mod watched;
