// Signing keys: imported once as CryptoKey objects, identified by their RFC 7638 thumbprint.
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  importPKCS8,
  importSPKI,
  type CryptoKey,
  type JWK,
} from 'jose'
import { createPrivateKey, createPublicKey } from 'node:crypto'

export type SigningAlg = 'EdDSA' | 'ES256'

export interface SigningKey {
  kid: string
  /** A retired key is accepted (and published) until this time (ms); undefined: no limit. */
  notAfter?: number
  alg: SigningAlg
  privateKey: CryptoKey
  publicKey: CryptoKey
  publicJwk: JWK
}

async function finish(alg: SigningAlg, privateKey: CryptoKey, publicKey: CryptoKey): Promise<SigningKey> {
  const jwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  return { kid, alg, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } }
}

/** From a PKCS#8 PEM (tokens.signing_key). The algorithm must fit the key type. */
export async function loadSigningKey(pem: string, alg: SigningAlg): Promise<SigningKey> {
  let publicPem: string
  try {
    const priv = createPrivateKey(pem)
    const type = priv.asymmetricKeyType
    if (alg === 'EdDSA' && type !== 'ed25519') throw new Error(`EdDSA needs an Ed25519 key, got ${type}`)
    if (alg === 'ES256' && (type !== 'ec' || priv.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
      throw new Error('ES256 needs a P-256 EC key')
    }
    publicPem = createPublicKey(priv).export({ type: 'spki', format: 'pem' }).toString()
  } catch (e) {
    // Never echo the key material: only say what is wrong with it.
    throw new Error(
      `tokens.signing_key: not a usable ${alg} private key (${(e as Error).message.split('\n')[0]})`,
    )
  }
  const privateKey = await importPKCS8(pem, alg)
  const publicKey = await importSPKI(publicPem, alg, { extractable: true })
  return finish(alg, privateKey, publicKey)
}

export async function generateSigningKey(alg: SigningAlg): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: false })
  const pub = await exportJWK(publicKey)
  const publicKeyExtractable = (await importJWK(pub, alg)) as CryptoKey
  return finish(alg, privateKey, publicKeyExtractable)
}
