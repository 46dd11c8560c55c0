//! `sov net …`: the outbound policy, and Tor's bootstrap shown as it goes.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Subcommand;
use futures_util::StreamExt as _;
use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_net::{Class, Net, Route};

/// `sov net …`
#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// How each kind of connection leaves ([net]), and Tor's state: bootstraps Tor if a route
    /// uses it (the first time downloads the directory, about 2 MB), then prints whether it is
    /// ready, its guards and the circuits this process used.
    Status {
        /// Print the routes only; do not start Tor.
        #[arg(long)]
        offline: bool,
    },
}

/// The outbound policy of `config`.
pub fn open(config: &Config, paths: &Paths) -> Result<Arc<Net>> {
    Ok(Net::new(&config.net, &paths.data_dir)?)
}

/// Starts Tor if `route` uses it and waits for it, with a progress bar on a terminal (a log
/// line per step otherwise). Fails closed with Tor's own message.
pub async fn ready(net: &Net, route: &Route) -> Result<()> {
    if *route != Route::Tor {
        return Ok(());
    }
    let tor = net.tor()?;
    if tor.status().ready {
        return Ok(());
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(100);
        bar.set_style(
            indicatif::ProgressStyle::with_template("Tor {bar:30} {pos:>3}% {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut progress = Box::pin(tor.progress());
    let shown = bar.clone();
    let watcher = tokio::spawn(async move {
        let mut last = String::new();
        while let Some(step) = progress.next().await {
            match &shown {
                Some(bar) => {
                    bar.set_position((step.fraction * 100.0) as u64);
                    bar.set_message(step.message.clone());
                }
                None if step.message != last => tracing::info!("Tor: {}", step.message),
                None => {}
            }
            last = step.message;
            if step.ready {
                break;
            }
        }
    });
    let outcome = tor.ready().await;
    watcher.abort();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(outcome?)
}

/// `sov net …`
pub fn run(cmd: NetCommand, config: &Config, paths: &Paths) -> Result<i32> {
    let NetCommand::Status { offline } = cmd;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let net = open(config, paths)?;
        for class in Class::ALL {
            let route = net.route(class);
            let how = match route {
                Route::Tor => "tor (in process, a fresh circuit per request)".to_owned(),
                Route::Socks5(proxy) => format!("socks5 via {proxy} (fresh credentials per request)"),
                Route::DirectInsecureDev => "direct-insecure-dev (SHOWS YOUR IP ADDRESS)".to_owned(),
            };
            println!("{:<7} {how}", class.as_str());
        }
        for (name, remote) in &config.remote {
            let (transport, socks) = config.remote_route(remote);
            println!(
                "remote.{name}: {transport}{}",
                if transport.as_str() == "socks5" { format!(" via {socks}") } else { String::new() }
            );
        }
        println!("tor dir {}", net.tor_dir().display());
        if offline || !Class::ALL.iter().any(|c| net.route(*c) == Route::Tor) {
            return Ok(0);
        }
        let started = Instant::now();
        match ready(&net, &Route::Tor).await {
            Ok(()) => println!("tor     bootstrapped ({:.1} s)", started.elapsed().as_secs_f64()),
            Err(e) => {
                println!("tor     NOT bootstrapped: {e:#}");
                return Ok(1);
            }
        }
        let tor = net.tor()?;
        println!("tor     {}", tor.status().message);
        let guards = guards(&net);
        match guards {
            Some((sampled, confirmed)) => println!("guards  {sampled} sampled, {confirmed} confirmed"),
            None => println!("guards  none recorded yet"),
        }
        println!("circuits this process used: {}", tor.streams_opened());
        Ok(0)
    })
}

/// Sampled and confirmed guards in arti's state file, if it has one.
fn guards(net: &Net) -> Option<(usize, usize)> {
    let path = net.tor_dir().join("state").join("state").join("guards.json");
    let text = std::fs::read_to_string(path).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    let mut sampled = 0;
    let mut confirmed = 0;
    for set in state.as_object()?.values() {
        for guard in set["guards"].as_array().into_iter().flatten() {
            sampled += 1;
            if !guard["confirmed_on"].is_null() {
                confirmed += 1;
            }
        }
    }
    Some((sampled, confirmed))
}
