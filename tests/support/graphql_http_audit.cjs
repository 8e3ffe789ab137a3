// Runs the GraphQL-over-HTTP audit of the `graphql-http` package against a server and prints
// every result as JSON on stdout.
//   node graphql_http_audit.cjs <package directory> <url>
// The token comes from ONHAND_AUDIT_TOKEN (kept out of the process list). Every audit request
// carries it: onhand refuses a request without one before any GraphQL runs.
'use strict';

const [packageDirectory, url] = process.argv.slice(2);
const token = process.env.ONHAND_AUDIT_TOKEN;
const { auditServer } = require(packageDirectory);

function authorised(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

async function describe(result) {
  const described = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    const response = result.response;
    described.reason = result.reason;
    described.httpStatus = response.status;
    described.contentType = response.headers.get('content-type');
    if (!response.bodyUsed) {
      described.body = (await response.text()).slice(0, 500);
    }
  }
  return described;
}

auditServer({ url, fetchFn: authorised })
  .then((results) => Promise.all(results.map(describe)))
  .then((described) => process.stdout.write(JSON.stringify(described)))
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });
