// dynalite in a process of its own, so a test can kill it the way a crash would.
// Argument: JSON { port, path? }; `path` keeps the data on disk (LevelDB), else in memory.
// Prints `listening <port>` once it accepts connections.
import dynalite from 'dynalite';

const { port, path } = JSON.parse(process.argv[2] ?? '{}');
const server = dynalite({
  ...(path === undefined ? {} : { path }),
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
});
server.on('error', (error) => {
  console.error(error);
  process.exit(1);
});
server.listen(port ?? 0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

// A parent that dies without stopping us closes our stdin: leave with it rather than linger.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
