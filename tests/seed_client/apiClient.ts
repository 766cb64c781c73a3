// The seed names `./apiClient` without showing it: an axios instance on the API's base URL that sends
// the signed-in user's bearer token, as a web app's client does. Here both come from the environment.
import axios from 'axios';

export const apiClient = axios.create({
  baseURL: process.env.EXPORTFLOW_API_URL,
  headers: { Authorization: `Bearer ${process.env.EXPORTFLOW_TOKEN}` },
});
