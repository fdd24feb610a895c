//! End-to-end tests of the dchat services: real servers on port 0, real gRPC clients.
//!
//! One test binary for the crate (see ARCHITECTURE.md); each module covers one area.

// In tests a panic is a failed assertion with a backtrace; helpers unwrap like tests do.
#![allow(clippy::unwrap_used)]

mod accounts;
mod auth;
mod authz;
mod bench;
mod browser;
mod browser_accounts;
mod browser_sessions;
mod chaos;
mod corpus;
mod csrf;
mod errors;
mod forms;
mod gateway_grpc;
mod grpc_tools;
mod history;
mod http;
mod internal;
mod limits;
mod messages;
mod nginx;
mod ops;
mod postgres;
mod presence;
mod processes;
mod replicas;
mod rest;
mod rooms;
mod sessions;
mod split;
mod stalls;
mod support;
mod tidy;
mod web;
mod webapp;
mod webhooks;
mod ws;
mod wsclient;
