//! The `redress` binary: sets up logging and hands the arguments to the library.

fn main() -> std::process::ExitCode {
    // The service says what it does (sweeps, webhooks, elections); commands stay quiet.
    let serving = std::env::args_os().nth(1).is_some_and(|a| a == "serve");
    let default = if serving {
        "info,kube_client::client::builder=off,octocrab=warn"
    } else {
        "warn,kube_client::client::builder=off"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REDRESS_LOG").unwrap_or_else(
                |_| // kube logs its own error line for a failed connection; redress reports it once.
                tracing_subscriber::EnvFilter::new(default),
            ),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    std::process::ExitCode::from(redress::cli::main_with_args(std::env::args_os()))
}
