//! The one integration binary: every test drives the real healthprobe binary. One module
//! per concern; the helpers they share are in common/, split by concern.
//!
//! The Docker, compose and static-binary suites run the default static build whatever
//! features this binary was built with, so they are compiled into the default run only:
//! `cargo test --features tls` runs what the TLS build changes, not those again.

mod common;

#[cfg(not(feature = "tls"))]
mod aarch64;
mod addresses;
mod amqp;
mod architecture;
#[cfg(not(feature = "tls"))]
mod auditable;
mod body;
mod deadline;
#[cfg(not(feature = "tls"))]
mod docker;
#[cfg(not(feature = "tls"))]
mod docker_wait;
#[cfg(not(feature = "tls"))]
mod dockerfile;
mod env;
mod examples;
mod exit_codes;
mod fcgi;
mod grpc;
#[cfg(feature = "tls")]
mod grpcs;
mod help;
mod hostile;
#[cfg(not(feature = "tls"))]
mod https_without_tls;
mod install;
mod json;
mod k8s_example;
mod limits;
mod matrix;
mod memcached;
mod mistakes;
mod mqtt;
mod mysql;
mod nats;
mod output;
mod postgres;
mod proxy;
mod redirects;
mod redis;
mod request;
mod secrets;
#[cfg(not(feature = "tls"))]
mod static_binary;
#[cfg(not(feature = "tls"))]
mod static_binary_small;
mod status;
#[cfg(not(feature = "tls"))]
mod swarm;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
mod unix;
mod usage;
mod wait;
