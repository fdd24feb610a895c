//! What the gateway remembers for a while so as not to ask a service on every request:
//! verified tokens (`verified`), confirmed memberships (`members`) and profiles (`profiles`:
//! display names and handles), and the protocol that keeps the first two coherent with
//! changes (`watched`).

pub(crate) mod members;
pub(crate) mod profiles;
pub(crate) mod verified;
pub(crate) mod watched;
