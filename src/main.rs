//! The `redress` binary: sets up logging and hands the arguments to the library.

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REDRESS_LOG").unwrap_or_else(
                |_| // kube logs its own error line for a failed connection; redress reports it once.
                tracing_subscriber::EnvFilter::new("warn,kube_client::client::builder=off"),
            ),
        )
        .with_writer(std::io::stderr)
        .init();
    std::process::ExitCode::from(redress::cli::main_with_args(std::env::args_os()))
}
