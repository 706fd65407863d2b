/**
 * The bearer token for this browser tab's session: sessionStorage, so it survives reloads
 * and navigation but not closing the tab, and is never sent anywhere but the API.
 */
const KEY = 'quantix.token';

export function loadToken(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined; // storage disabled: sign in every time
  }
}

export function saveToken(token: string): void {
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // storage disabled: the session lasts until reload
  }
}

export function clearToken(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}
