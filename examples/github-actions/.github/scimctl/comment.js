// One comment per pull request and purpose, found by a hidden marker and updated in
// place: a new push edits the plan comment instead of adding another.
// Used from actions/github-script:
//   await require('./.github/scimctl/comment.js')({github, context, core},
//     {issue: 42, marker: 'scimctl-plan', path: 'scimctl-plan/comment.md'});
const fs = require('fs');

const LIMIT = 65536; // GitHub's comment size limit

module.exports = async ({ github, context, core }, { issue, marker, path }) => {
  const tag = `<!-- ${marker} -->`;
  let text;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    text = `### scimctl\n\nThe job failed before it wrote ${path}; see the run's log.\n`;
  }
  const run = `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}`;
  const footer = `\n\n<sub>[workflow run](${run})</sub>\n`;
  let body = `${tag}\n${text}`;
  if (body.length + footer.length > LIMIT) {
    const note = '\n\n_Cut to fit the comment limit: the full text is in the job summary._';
    body = body.slice(0, LIMIT - footer.length - note.length) + note;
  }
  body += footer;

  const { owner, repo } = context.repo;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner, repo, issue_number: issue, per_page: 100,
  });
  const mine = comments.find(
    (c) => c.user && c.user.type === 'Bot' && c.body && c.body.startsWith(tag),
  );
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
    core.info(`updated comment ${mine.id}`);
  } else {
    const made = await github.rest.issues.createComment({ owner, repo, issue_number: issue, body });
    core.info(`created comment ${made.data.id}`);
  }
};
