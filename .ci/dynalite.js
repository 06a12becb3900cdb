// Starts dynalite, a DynamoDB-compatible server, for the tests of
// store/dynamodb: node .ci/dynalite.js INSTALL_DIR HOST PORT (see .ci/run).
//
// It is dynalite's own command with one difference. dynalite throws from
// the 'error' listener of every request, so a client that gives up on a
// request while still sending its body (a test's deadline, the session
// Manager's store timeout on a loaded machine) would crash the server and
// fail every test after it. Here such an error ends only that request.
// Tables become ACTIVE at once, so tests that each create one do not wait.
'use strict'
const path = require('path')

const [dir, host, port] = process.argv.slice(2)
const dynalite = require(path.join(dir, 'node_modules', 'dynalite'))

const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
const [handle] = server.listeners('request')
server.removeAllListeners('request')
server.on('request', (req, res) => {
  handle(req, res)
  req.removeAllListeners('error')
  req.on('error', (err) => {
    console.error('dynalite: request ended by the client: %s', err.message)
    res.destroy()
  })
})
server.listen(Number(port), host, () => {
  console.log('dynalite listening on %s:%d', host, server.address().port)
})
