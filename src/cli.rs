//! Command-line flags (clap derive structs only) and their conversion into the library's
//! configuration, in one place: the library never sees clap.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use mtlscan::capture::{Input, ReadLimits, ReadOptions};
use mtlscan::flow::FlowLimits;
use mtlscan::mesh::{MeshRequest, Profile};
use mtlscan::report::{AllowRule, Format, Policy, Requirement, View};
use mtlscan::run::{Destination, ReportSpec, RunConfig};

/// Reads packet captures and proves, flow by flow (TCP and UDP), whether traffic was mutual
/// TLS, TLS without a client certificate, encrypted otherwise (SSH, WireGuard), or plaintext.
///
/// Exit codes: 0 analysis done and policy (if any) holds; 1 analysis done, policy violated;
/// 2 the input could not be analysed.
#[derive(Debug, Parser)]
#[command(name = "mtlscan", version, max_term_width = 100)]
pub struct Cli {
    /// Capture files (pcap or pcapng, optionally gzip-compressed); '-' reads standard input.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<String>,

    /// Report format: a table for people, one JSON document, JSON Lines (one flow per line,
    /// then a summary line), JUnit XML for CI dashboards (one test case per flow; policy
    /// violations are failures), or one self-contained HTML page (graph, table, evidence).
    #[arg(short, long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,

    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Also write the report as one JSON document to FILE, in the same run.
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,

    /// Also write the report as JSON Lines to FILE, in the same run.
    #[arg(long, value_name = "FILE")]
    pub export_jsonl: Option<PathBuf>,

    /// Also write the report as JUnit XML to FILE, in the same run.
    #[arg(long, value_name = "FILE")]
    pub export_junit: Option<PathBuf>,

    /// Also write the report as one self-contained HTML page to FILE, in the same run: the
    /// graph of who talks to whom, the flow table, each flow's evidence.
    #[arg(long, value_name = "FILE")]
    pub export_html: Option<PathBuf>,

    /// Report each flow as soon as its verdict is settled, for a capture still being written
    /// (`kubectl sniff POD -o - | mtlscan --follow -`, a FIFO). Ctrl+C or SIGTERM ends the input:
    /// the open flows are judged with what they have, the summary and the policy follow. Table
    /// or JSON Lines only.
    #[arg(long)]
    pub follow: bool,

    /// CI policy: every flow with payload must be encrypted ('encrypted': TLS, or SSH or
    /// WireGuard proven by their handshake) or proven mutual TLS ('mtls'). Violations make the
    /// exit code 1.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub require: Option<RequireArg>,

    /// Exempt matching flows from --require (repeatable): port=15021 (server port),
    /// net=127.0.0.0/8, host=10.1.2.3, host=10.1.2.3:9080.
    #[arg(long, value_name = "RULE")]
    pub allow: Vec<AllowRule>,

    /// Mesh profile: traffic that is plaintext by design under it (the loopback leg between an
    /// application and its sidecar, health checks, metrics scrapes) is marked expected and not
    /// counted by --require. 'auto' picks the mesh recognised from ALPN, SNI and ports.
    /// Without this option nothing is exempt but --allow rules.
    #[arg(long, value_enum, value_name = "PROFILE")]
    pub mesh: Option<MeshArg>,

    /// NSS key log (SSLKEYLOGFILE format) used to decrypt TLS 1.3 handshakes and prove client
    /// certificates (repeatable).
    #[arg(long, value_name = "FILE")]
    pub keylog: Vec<PathBuf>,

    /// Output of 'kubectl get pods -A -o json': label addresses with namespace/pod names.
    #[arg(long, value_name = "FILE")]
    pub pods: Option<PathBuf>,

    /// Output of 'kubectl get svc -A -o json': label service addresses (ClusterIP, external
    /// and load-balancer IPs) with namespace/service names, and pods with their services.
    #[arg(long, value_name = "FILE")]
    pub services: Option<PathBuf>,

    /// Table layout: flows (one line per flow), pods (flows grouped by client pod -> server
    /// pod), both, or auto (both when --pods/--services name some address, else flows).
    #[arg(long, value_enum, default_value_t = ViewArg::Auto, value_name = "VIEW")]
    pub view: ViewArg,

    /// Print only a one-screen verdict (counts, legs, mesh, policy and the flows that violate
    /// it). With --format json, jsonl or junit, the report goes to -o FILE and the verdict to
    /// standard output.
    #[arg(long)]
    pub summary: bool,

    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Read files with buffered I/O instead of memory-mapping them.
    #[arg(long)]
    pub no_mmap: bool,

    /// Skip the SHA-256 of each capture (the reports say sha256 null, the table has no hash
    /// line), for runs where only the verdict matters. The hash is evidence a reviewer checks
    /// with sha256sum; it runs beside the analysis and is on by default.
    #[arg(long)]
    pub no_hash: bool,

    /// Most connections tracked at once (open flows and recently closed ones); past it the
    /// least recently active are reported early, with a warning.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_flows: u64,

    /// Most stream bytes buffered by all open flows together (e.g. 512MiB); past it the least
    /// recently active flows are reported early, with a warning.
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_size)]
    pub max_buffered_bytes: u64,

    /// Most flows without payload (SYN-only, refused or idle connections) listed one by one: the
    /// first seen; the others are counted in the summary, with a warning.
    #[arg(long, value_name = "N", default_value_t = mtlscan::analyze::MAX_EMPTY_FLOWS as u64)]
    pub max_empty_flows: u64,

    /// Bytes kept from the start of each direction of a flow for classification (e.g. 64KiB);
    /// the rest is counted, not kept.
    #[arg(long, value_name = "SIZE", default_value = "64KiB", value_parser = parse_size)]
    pub max_prefix: u64,

    /// Most bytes decompressed from a gzip capture (e.g. 16GiB); reading stops there with a
    /// warning.
    #[arg(long, value_name = "SIZE", default_value = "16GiB", value_parser = parse_size)]
    pub max_gunzip: u64,

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
    Junit,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MeshArg {
    Istio,
    Linkerd,
    Ambient,
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewArg {
    Auto,
    Flows,
    Pods,
    Both,
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

/// A report written to a file beside the main one (`--export-json FILE` and the like).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The option that asked for it, for messages.
    pub flag: &'static str,
    pub format: Format,
    pub path: PathBuf,
}

/// What a run of the command needs: the library's configuration, and what only the command
/// does (warnings on standard error).
#[derive(Debug)]
pub struct Settings {
    pub config: RunConfig,
    pub quiet: bool,
}

impl Cli {
    /// Converts the flags into settings; an error is a one-line message for the user.
    pub fn into_settings(self) -> Result<Settings, String> {
        if self.captures.iter().filter(|c| c.as_str() == "-").count() > 1 {
            return Err("standard input ('-') can be given only once".to_string());
        }
        let output = self.output.filter(|p| p.as_os_str() != "-");
        if self.summary && self.format != FormatArg::Table && output.is_none() {
            return Err(
                "--summary prints a table on standard output; with --format json, jsonl or \
                 junit also give -o FILE for the report"
                    .to_string(),
            );
        }
        let exports = exports(
            output.as_deref(),
            [
                ("--export-json", Format::Json, self.export_json),
                ("--export-jsonl", Format::Jsonl, self.export_jsonl),
                ("--export-junit", Format::Junit, self.export_junit),
                ("--export-html", Format::Html, self.export_html),
            ],
        )?;
        if self.follow {
            check_follow(&self.captures, self.format, &exports)?;
        }
        let format = match self.format {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Junit => Format::Junit,
            FormatArg::Html => Format::Html,
        };
        let reports = reports(format, output, exports, self.summary, self.color);
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
        let view = if self.summary {
            Some(View::Summary)
        } else {
            match self.view {
                ViewArg::Auto => None,
                ViewArg::Flows => Some(View::Flows),
                ViewArg::Pods => Some(View::Pods),
                ViewArg::Both => Some(View::Both),
            }
        };
        let config = RunConfig {
            inputs,
            reports,
            policy: Policy {
                require: self.require.map(|r| match r {
                    RequireArg::Encrypted => Requirement::Encrypted,
                    RequireArg::Mtls => Requirement::Mtls,
                }),
                allow: self.allow,
            },
            keylogs: self.keylog,
            pods: self.pods,
            services: self.services,
            mesh: self.mesh.map(|m| match m {
                MeshArg::Istio => MeshRequest::Profile(Profile::Istio),
                MeshArg::Linkerd => MeshRequest::Profile(Profile::Linkerd),
                MeshArg::Ambient => MeshRequest::Profile(Profile::Ambient),
                MeshArg::Auto => MeshRequest::Auto,
            }),
            view,
            follow: self.follow,
            threads: self.threads.map(usize::from),
            read: ReadOptions {
                mmap: !self.no_mmap,
                hash: !self.no_hash,
            },
            limits: FlowLimits {
                prefix_bytes: usize::try_from(self.max_prefix)
                    .unwrap_or(usize::MAX)
                    .max(1),
                max_flows: usize::try_from(self.max_flows).unwrap_or(usize::MAX),
                max_buffered_bytes: usize::try_from(self.max_buffered_bytes).unwrap_or(usize::MAX),
                ..FlowLimits::default()
            },
            read_limits: ReadLimits {
                max_decompressed_bytes: self.max_gunzip,
            },
            max_empty_flows: usize::try_from(self.max_empty_flows).unwrap_or(usize::MAX),
        };
        Ok(Settings {
            config,
            quiet: self.quiet,
        })
    }
}

/// The reports of the run, files first: `-o` and the exports, then standard output unless `-o`
/// took the report there (with `--summary`, standard output gets the one-screen table).
fn reports(
    format: Format,
    output: Option<PathBuf>,
    exports: Vec<Export>,
    summary: bool,
    color: ColorArg,
) -> Vec<ReportSpec> {
    let file = |option, path, format| ReportSpec {
        color: color_for(color, false),
        ..ReportSpec::new(Destination::file(option, path), format)
    };
    let to_stdout = match (&output, summary) {
        (None, _) => Some(format),
        (Some(_), true) if format != Format::Table => Some(Format::Table),
        (Some(_), _) => None,
    };
    let mut reports: Vec<ReportSpec> = output
        .into_iter()
        .map(|path| file("-o", path, format))
        .chain(exports.into_iter().map(|e| file(e.flag, e.path, e.format)))
        .collect();
    if let Some(format) = to_stdout {
        let terminal = io::stdout().is_terminal();
        reports.push(ReportSpec {
            color: color_for(color, terminal),
            width: terminal.then(terminal_width),
            ..ReportSpec::new(Destination::Stdout, format)
        });
    }
    reports
}

/// Colour for a table: `--color`, else only on a terminal without `NO_COLOR`.
fn color_for(color: ColorArg, terminal: bool) -> bool {
    match color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// The terminal's width from `COLUMNS`, else 100.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c >= 40)
        .unwrap_or(100)
}

/// `--follow` reads one capture and writes formats that can be written record by record.
fn check_follow(captures: &[String], format: FormatArg, exports: &[Export]) -> Result<(), String> {
    if captures.len() != 1 {
        return Err("--follow reads one capture; give one file, FIFO or '-'".to_string());
    }
    if matches!(format, FormatArg::Json | FormatArg::Junit | FormatArg::Html) {
        return Err(
            "--follow writes flows as they settle: use --format table or jsonl (a JSON document, \
             a JUnit file or an HTML page needs the whole capture; run without --follow on a \
             saved capture)"
                .to_string(),
        );
    }
    if let Some(e) = exports.iter().find(|e| e.format != Format::Jsonl) {
        return Err(format!(
            "{} needs the whole capture; with --follow use --export-jsonl",
            e.flag
        ));
    }
    Ok(())
}

/// The `--export-*` reports asked for. Each names a file of its own: not standard output, not
/// the `-o` file, not another export's.
fn exports(
    output: Option<&std::path::Path>,
    asked: [(&'static str, Format, Option<PathBuf>); 4],
) -> Result<Vec<Export>, String> {
    let mut exports: Vec<Export> = Vec::new();
    for (flag, format, path) in asked {
        let Some(path) = path else {
            continue;
        };
        if path.as_os_str() == "-" {
            return Err(format!(
                "{flag} writes a file; for standard output use --format instead"
            ));
        }
        if output == Some(path.as_path()) {
            return Err(format!(
                "{flag} and -o both name {}; give each report its own file",
                path.display()
            ));
        }
        if let Some(other) = exports.iter().find(|e| e.path == path) {
            return Err(format!(
                "{flag} and {} both name {}; give each report its own file",
                other.flag,
                path.display()
            ));
        }
        exports.push(Export { flag, format, path });
    }
    Ok(exports)
}

/// A size such as `65536`, `64KiB`, `512MiB`, `16GiB` (also `KB`/`MB`/`GB` as powers of 1000).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size; write e.g. 65536, 64KiB, 512MiB or 16GiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "unknown size unit in '{text}'; use KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(factor)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("'{text}' is out of range"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("16gib"), Ok(16 << 30));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }
}
