// `airlock mcp`: the MCP server for agent hosts (Claude Code, Cursor, ...), as this agent's key.
import type { Command } from 'commander'
import { serveMcp } from '../../mcp/server.js'
import { clientFor } from '../client.js'
import { globals } from './globals.js'

export function registerMcpCommand(program: Command) {
  program
    .command('mcp')
    .description(
      'serve the Model Context Protocol on stdin/stdout for an agent host; credentials never reach the model',
    )
    .action(async (_o: unknown, cmd: Command) => serveMcp(await clientFor(globals(cmd))))
}
