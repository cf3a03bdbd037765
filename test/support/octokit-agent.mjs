// An agent's program run under `airlock exec`: drives the real @octokit/rest client with the
// GitHub token exec put in its environment, one step per argument, and prints what GitHub answered.
//   get:OWNER:REPO             GET /repos/{owner}/{repo}
//   put:OWNER:REPO:PATH        PUT /repos/{owner}/{repo}/contents/{path}
//   revoke                     an operator (OPERATOR_KEY) revokes this session through Airlock
/* global fetch */
import { Buffer } from 'node:buffer'
import process from 'node:process'
import { Octokit } from '@octokit/rest'

const token = process.env.GITHUB_TOKEN
const octokit = new Octokit({ auth: token, baseUrl: process.env.GITHUB_API_URL })
const results = [{ step: 'env', same: token === process.env.GH_TOKEN, prefix: token?.slice(0, 4) }]
for (const step of process.argv.slice(2)) {
  const [op, owner, repo, path] = step.split(':')
  try {
    if (op === 'get') {
      const r = await octokit.rest.repos.get({ owner, repo })
      results.push({ step, status: r.status, full_name: r.data.full_name })
    } else if (op === 'put') {
      const content = Buffer.from(`written by ${step}`).toString('base64')
      const r = await octokit.rest.repos.createOrUpdateFileContents({
        owner,
        repo,
        path,
        message: step,
        content,
      })
      results.push({ step, status: r.status })
    } else if (op === 'revoke') {
      const sid = JSON.parse(Buffer.from(process.env.AIRLOCK_SESSION_TOKEN.split('.')[1], 'base64url')).sid
      const r = await fetch(`${process.env.AIRLOCK_URL}/v1/sessions/${sid}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${process.env.OPERATOR_KEY}` },
      })
      results.push({ step, status: r.status })
    }
  } catch (e) {
    results.push({ step, status: e.status ?? 0, message: e.message })
  }
}
process.stdout.write(`${JSON.stringify(results)}\n`)
