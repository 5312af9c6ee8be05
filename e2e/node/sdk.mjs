// Tencent's official Node SDK against scfws local, configured the plain way
// for a custom endpoint: httpProfile {endpoint: "127.0.0.1:8080", protocol:
// "http:"}. It calls SCF's Invoke (RequestResponse and Event), ListFunctions
// and GetFunction, and prints what they answered as one JSON object; on an
// API error it prints {"error": {code, message}} and exits 1.
//
// Environment: SCFWS_ENDPOINT (host:port), TENCENTCLOUD_SECRETID,
// TENCENTCLOUD_SECRETKEY, TENCENTCLOUD_REGION, SCFWS_FUNCTION, and the two
// events, SCFWS_SYNC_EVENT and SCFWS_ASYNC_EVENT. Run by e2e/node_sdk_test.go.
import tencentcloud from "tencentcloud-sdk-nodejs-scf";

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
};

const client = new tencentcloud.scf.v20180416.Client({
  credential: { secretId: env("TENCENTCLOUD_SECRETID"), secretKey: env("TENCENTCLOUD_SECRETKEY") },
  region: env("TENCENTCLOUD_REGION"),
  profile: { httpProfile: { endpoint: env("SCFWS_ENDPOINT"), protocol: "http:" } },
});
const name = env("SCFWS_FUNCTION");

try {
  const sync = await client.Invoke({
    FunctionName: name,
    InvocationType: "RequestResponse",
    ClientContext: env("SCFWS_SYNC_EVENT"),
  });
  const event = await client.Invoke({
    FunctionName: name,
    InvocationType: "Event",
    ClientContext: env("SCFWS_ASYNC_EVENT"),
  });
  const list = await client.ListFunctions({});
  const got = await client.GetFunction({ FunctionName: name });
  console.log(JSON.stringify({
    sync: { retMsg: sync.Result.RetMsg, errMsg: sync.Result.ErrMsg },
    event: { functionRequestId: event.Result.FunctionRequestId },
    list: list.Functions.map((f) => f.FunctionName),
    get: { status: got.Status, runtime: got.Runtime },
  }));
} catch (e) {
  console.log(JSON.stringify({ error: { code: e.code, message: e.message } }));
  process.exit(1);
}
