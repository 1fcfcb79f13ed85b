fn main() -> std::process::ExitCode {
    iphone_import::mock::cli::main()
}
