// Which pull request was merged as this push, and which run of this workflow planned
// it. Its plan is only a claim: `scimctl apply` recomputes it on main and runs it only
// if identical, so a pull request that uploaded a doctored plan gets a refusal, not
// an unreviewed write.
// Outputs: pr (number or ''), run_id (the plan run or '').
module.exports = async ({ github, context, core }, { workflow }) => {
  core.setOutput('pr', '');
  core.setOutput('run_id', '');
  const { owner, repo } = context.repo;
  let prs;
  try {
    prs = await github.rest.repos.listPullRequestsAssociatedWithCommit({
      owner, repo, commit_sha: context.sha,
    });
  } catch (err) {
    core.setFailed(`cannot list the pull requests of ${context.sha}: ${err.message}`);
    return;
  }
  const pr = prs.data.find((p) => p.merged_at);
  if (!pr) {
    core.warning('no merged pull request for this commit: a new plan will need approval');
    return;
  }
  core.setOutput('pr', String(pr.number));
  const runs = await github.rest.actions.listWorkflowRuns({
    owner, repo, workflow_id: workflow, event: 'pull_request', head_sha: pr.head.sha,
    status: 'success', per_page: 1,
  });
  const run = runs.data.workflow_runs[0];
  if (!run) {
    core.warning(`no successful plan for #${pr.number} at ${pr.head.sha}: a new plan will need approval`);
    return;
  }
  core.setOutput('run_id', String(run.id));
};
