'use strict';
// An app of the Node stack reading its servicebinding.io binding (SERVICE_BINDING_ROOT/<name>/<key>)
// the way each library's README shows. Usage: node connect.js <mode> <binding directory>.
// Prints one JSON line: {"tls": <session encrypted>, "user": <database user>} or {"error": ...}.
const fs = require('fs');
const path = require('path');
const { getBinding } = require('kube-service-bindings');
const pg = require('pg');
const mysql = require('mysql2/promise');

const [mode, dir] = process.argv.slice(2);
const read = (key) => fs.readFileSync(path.join(dir, key), 'utf8');

async function viaPg(config) {
  const client = new pg.Client(config);
  await client.connect();
  try {
    // session_user: the login role, not the group role each binding's session switches to.
    const r = await client.query('SELECT session_user AS user');
    return { tls: client.connection.stream.encrypted === true, user: r.rows[0].user };
  } finally {
    await client.end();
  }
}

async function viaMysql2(config) {
  const conn = await mysql.createConnection(config);
  try {
    const [rows] = await conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
    const [[me]] = await conn.query('SELECT CURRENT_USER() AS user');
    return { tls: rows[0].Value !== '', user: me.user.split('@')[0] };
  } finally {
    await conn.end();
  }
}

const modes = {
  // kube-service-bindings maps root.crt to pg's ssl.ca: TLS on, chain and host name verified.
  'ksb-pg': () => viaPg(getBinding('POSTGRESQL', 'pg')),
  // Its mysql2 mapping keeps only host, port, user, password and database: the app adds TLS.
  'ksb-mysql2': () =>
    viaMysql2({
      ...getBinding('MYSQL', 'mysql2'),
      ssl: { ca: read('ca.crt'), verifyIdentity: true }
    }),
  'ksb-mysql2-as-mapped': () => viaMysql2(getBinding('MYSQL', 'mysql2')),
  // The uri alone; Node finds the CA through NODE_EXTRA_CA_CERTS.
  'uri-pg': () => viaPg({ connectionString: read('uri') }),
  'uri-mysql2': () => viaMysql2(read('uri'))
};

modes[mode]()
  .then((out) => console.log(JSON.stringify(out)))
  .catch((err) => {
    console.log(JSON.stringify({ error: String(err.message || err), code: err.code || null }));
    process.exitCode = 1;
  });
