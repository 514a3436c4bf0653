//! What ams-stack refuses before it creates anything: an up without --yes when stdin is not a
//! terminal, a stack whose hosted zone the account lacks, an image lookup that finds nothing.
//! None of them makes a mutating call.

use crate::support::mutating;
use crate::support::{Moto, Project};

#[tokio::test(flavor = "multi_thread")]
async fn up_refuses_without_yes_when_stdin_is_not_a_terminal() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    let (run, calls) = project.run_logged(&["up", "local"]);
    let run = run.fails();
    assert!(
        run.stderr.contains("stdin is not a terminal; pass --yes"),
        "{}",
        run.stderr
    );
    assert!(mutating(&calls).is_empty(), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_hosted_zone_is_an_error_before_anything_is_created() {
    let moto = Moto::start_with(false, true);
    let project = Project::new(Some(&moto.endpoint));
    let (run, calls) = project.run_logged(&["up", "local", "--yes"]);
    let run = run.fails();
    assert!(
        run.stderr
            .contains("hosted zone `ams-local.test` not found in this account"),
        "{}",
        run.stderr
    );
    assert!(mutating(&calls).is_empty(), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_lookup_that_finds_nothing_is_an_error_before_anything_is_created() {
    let moto = Moto::start_with(true, false);
    let project = Project::new(Some(&moto.endpoint));
    let (run, calls) = project.run_logged(&["preview", "local"]);
    let run = run.fails();
    assert!(run.stderr.contains("no image named"), "{}", run.stderr);
    assert!(run.stderr.contains("set `ami` in ["), "{}", run.stderr);
    assert!(mutating(&calls).is_empty(), "{calls:?}");
}
