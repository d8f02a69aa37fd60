//! Command-line flags (clap derive structs only) and their conversion into the library's
//! configuration, in one place: the library never sees clap.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use mtlscan::capture::{Input, ReadOptions};
use mtlscan::report::{AllowRule, Format, Policy, Requirement};

/// Reads packet captures and proves, flow by flow, whether TCP traffic was mutual TLS, TLS
/// without a client certificate, or plaintext.
///
/// Exit codes: 0 analysis done and policy (if any) holds; 1 analysis done, policy violated;
/// 2 the input could not be analysed.
#[derive(Debug, Parser)]
#[command(name = "mtlscan", version, max_term_width = 100)]
pub struct Cli {
    /// Capture files (pcap or pcapng, optionally gzip-compressed); '-' reads standard input.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<String>,

    /// Report format: a table for people, one JSON document, or JSON Lines (one flow per line,
    /// then a summary line).
    #[arg(short, long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,

    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// CI policy: every flow with payload must be TLS ('encrypted') or proven mutual TLS
    /// ('mtls'). Violations make the exit code 1.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub require: Option<RequireArg>,

    /// Exempt matching flows from --require (repeatable): port=15021 (server port),
    /// net=127.0.0.0/8, host=10.1.2.3, host=10.1.2.3:9080.
    #[arg(long, value_name = "RULE")]
    pub allow: Vec<AllowRule>,

    /// NSS key log (SSLKEYLOGFILE format) used to decrypt TLS 1.3 handshakes and prove client
    /// certificates (repeatable).
    #[arg(long, value_name = "FILE")]
    pub keylog: Vec<PathBuf>,

    /// Output of 'kubectl get pods -A -o json': label addresses with namespace/pod names.
    #[arg(long, value_name = "FILE")]
    pub pods: Option<PathBuf>,

    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Read files with buffered I/O instead of memory-mapping them.
    #[arg(long)]
    pub no_mmap: bool,

    /// Colour in the table: auto (only on a terminal, and not when NO_COLOR is set), always,
    /// never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,

    /// Do not print warnings about the captures on standard error (they stay in the report).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RequireArg {
    Encrypted,
    Mtls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// The settings a run needs, free of clap.
#[derive(Debug)]
pub struct Settings {
    pub inputs: Vec<Input>,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub policy: Policy,
    pub keylogs: Vec<PathBuf>,
    pub pods: Option<PathBuf>,
    pub threads: Option<usize>,
    pub read: ReadOptions,
    pub color: ColorArg,
    pub quiet: bool,
}

impl Cli {
    /// Converts the flags into settings; an error is a one-line message for the user.
    pub fn into_settings(self) -> Result<Settings, String> {
        if self.captures.iter().filter(|c| c.as_str() == "-").count() > 1 {
            return Err("standard input ('-') can be given only once".to_string());
        }
        let inputs = self
            .captures
            .into_iter()
            .map(|c| {
                if c == "-" {
                    Input::Stdin
                } else {
                    Input::Path(c.into())
                }
            })
            .collect();
        Ok(Settings {
            inputs,
            format: match self.format {
                FormatArg::Table => Format::Table,
                FormatArg::Json => Format::Json,
                FormatArg::Jsonl => Format::Jsonl,
            },
            output: self.output.filter(|p| p.as_os_str() != "-"),
            policy: Policy {
                require: self.require.map(|r| match r {
                    RequireArg::Encrypted => Requirement::Encrypted,
                    RequireArg::Mtls => Requirement::Mtls,
                }),
                allow: self.allow,
            },
            keylogs: self.keylog,
            pods: self.pods,
            threads: self.threads.map(usize::from),
            read: ReadOptions {
                mmap: !self.no_mmap,
            },
            color: self.color,
            quiet: self.quiet,
        })
    }
}
