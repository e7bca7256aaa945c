//! `loadtest`: the command line of Queuecast's load generator (see BENCHMARKS.md for every
//! scenario's command). Only ever point it at servers on this machine (loopback).

use clap::{Parser, Subcommand};
use queuecast_loadtest::{depth, floor, retry, sockets, table, worker, write};

#[derive(Parser)]
#[command(name = "loadtest", about = "Load generator for Queuecast (loopback only)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Durable transitions per second over HTTP.
    Write(write::WriteArgs),
    /// Customers on live sockets while staff act: latency to every socket, correctness, server
    /// memory and CPU; against Queuecast, the floor, or both.
    Sockets(sockets::Args),
    /// Open-loop customers who time out and retry with the same key, at a multiple of the node's
    /// capacity: goodput, timeouts and latency per second, and how fast latency recovers.
    RetryStorm(retry::RetryArgs),
    /// One queue filled to each depth: ticket reads, call-nexts and pages of the line, timed.
    Depth(depth::DepthArgs),
    /// The floor server alone (what `sockets --floor` starts).
    FloorServe {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// The median of each figure over several runs' JSON files, as a Markdown table.
    Table { files: Vec<String> },
    /// A client process (started by `sockets --procs N`; speaks JSON lines on stdin/stdout).
    #[command(hide = true)]
    Worker,
}

fn main() -> anyhow::Result<()> {
    // Built with the workspace, reqwest needs a rustls provider before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, Command::FloorServe { .. }) {
        // The floor gets what a Queuecast node gets: two threads on this two-core machine.
        rt.worker_threads(2);
    }
    let rt = rt.enable_all().build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Write(args) => write::write(args).await,
            Command::Sockets(args) => sockets::run(args).await.map(|_| ()),
            Command::RetryStorm(args) => retry::run(args).await.map(|_| ()),
            Command::Depth(args) => depth::run(args).await.map(|_| ()),
            Command::FloorServe { listen } => floor::serve(&listen).await,
            Command::Worker => worker::main().await,
            Command::Table { files } => table::table(&files).map(|t| print!("{t}")),
        }
    })
}
