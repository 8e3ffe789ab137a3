// GraphQL over HTTP: queries and mutations, with the operator's token.

export class ApiError extends Error {
  constructor(message, codes = []) {
    super(message);
    this.codes = codes;
  }
}

export class Api {
  constructor(token, endpoint = "/graphql") {
    this.token = token;
    this.endpoint = endpoint;
  }

  // The data of a response; a GraphQL error (FORBIDDEN, a bad document) is thrown.
  async query(document, variables = {}) {
    let response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          Authorization: `Bearer ${this.token}`,
          // A person is at the keyboard: changes are recorded with source MANUAL.
          "X-Onhand-Source": "MANUAL",
        },
        body: JSON.stringify({ query: document, variables }),
      });
    } catch (error) {
      throw new ApiError("The server could not be reached.", ["NETWORK"]);
    }
    let body;
    try {
      body = await response.json();
    } catch (error) {
      throw new ApiError(`The server answered HTTP ${response.status}.`, [`HTTP_${response.status}`]);
    }
    if (body.errors && body.errors.length) {
      const codes = body.errors.map((e) => (e.extensions || {}).code);
      throw new ApiError(body.errors.map((e) => e.message).join("; "), codes);
    }
    return body.data;
  }

  // A mutation's payload; its `errors` (errors-as-data) are thrown, field and all.
  async mutate(name, document, variables = {}) {
    const payload = (await this.query(document, variables))[name];
    if (payload.errors && payload.errors.length) {
      const message = payload.errors
        .map((e) => (e.field ? `${e.field}: ${e.message}` : e.message))
        .join("; ");
      throw new ApiError(message, payload.errors.map((e) => e.code));
    }
    return payload;
  }
}
