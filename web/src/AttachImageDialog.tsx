/**
 * Attach an image that is not a disk (detached, or made outside Portway): either as it was (its id,
 * name and IP addresses, when it has Portway metadata) or with new add-disk settings.
 */
import { type FormEvent, useEffect, useId, useState } from 'react';
import { AddDiskForm } from './AddDiskForm';
import { type ApiErrorBody, attachImage, type ClusterConfigView, type DiskView, type FreeImage, listImages } from './api';
import { FormActions, LoadError } from './Field';
import { formatGiB, GIB } from './format';
import { Modal } from './Modal';

interface AttachImageDialogProps {
  config: ClusterConfigView | undefined;
  configError: ApiErrorBody | undefined;
  onAttached: (disk: DiskView) => void;
  onClose: () => void;
}

export function AttachImageDialog({ config, configError, onAttached, onClose }: AttachImageDialogProps) {
  const uid = useId();
  const [images, setImages] = useState<FreeImage[] | undefined>(undefined);
  const [loadError, setLoadError] = useState<ApiErrorBody | undefined>(undefined);
  const [chosen, setChosen] = useState<string | undefined>(undefined);
  const [keep, setKeep] = useState(true);
  const [step, setStep] = useState<'choose' | 'settings'>('choose');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const [attempt, setAttempt] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: attempt is a retry signal
  useEffect(() => {
    let cancelled = false;
    void listImages().then((r) => {
      if (cancelled) return;
      if (r.ok) {
        setImages(r.value);
        setLoadError(undefined);
        setChosen((c) => c ?? r.value[0]?.image);
      } else setLoadError(r.error);
    });
    return () => {
      cancelled = true;
    };
  }, [attempt]);

  const image = images?.find((i) => i.image === chosen);
  const canKeep = image?.name != null;

  async function next(e: FormEvent<HTMLFormElement>): Promise<void> {
    e.preventDefault();
    if (!image || busy) return;
    if (!(canKeep && keep)) {
      setStep('settings');
      return;
    }
    setBusy(true);
    setError(undefined);
    const r = await attachImage({ image: image.image, keepPaths: true });
    setBusy(false);
    if (r.ok) onAttached(r.value);
    else setError(r.error);
  }

  return (
    <Modal title="Attach image" description="Make an image of the pool a disk of the SAN again." onClose={onClose} testId="attach-dialog" wide>
      {step === 'settings' && image ? (
        <>
          <p className="muted">
            Image <span className="mono">{image.image}</span> as a new disk:
          </p>
          <AddDiskForm
            config={config}
            configError={configError}
            fixedSizeGb={Math.max(1, Math.ceil(image.sizeBytes / GIB))}
            initialName={image.name ?? ''}
            submitLabel="Attach image"
            withQos={false}
            submit={(req) => attachImage({ ...req, image: image.image })}
            onCreated={onAttached}
            onCancel={() => setStep('choose')}
          />
        </>
      ) : (
        <form className="form" onSubmit={(e) => void next(e)} noValidate aria-busy={busy}>
          {loadError ? <LoadError what="the images" error={loadError} onRetry={() => setAttempt((n) => n + 1)} /> : null}
          {images === undefined && !loadError ? (
            <p className="muted" role="status">
              Loading images…
            </p>
          ) : null}
          {images?.length === 0 ? (
            <p className="empty" data-testid="no-images">
              Every image of the pool is a disk already: there is nothing to attach.
            </p>
          ) : null}
          {images && images.length > 0 ? (
            <fieldset className="fieldset">
              <legend>Image</legend>
              <div className="image-list">
                {images.map((i) => (
                  <label key={i.image} className="choice-card" data-testid={`image-${i.image}`}>
                    <input
                      type="radio"
                      name={`${uid}-image`}
                      value={i.image}
                      checked={chosen === i.image}
                      onChange={() => setChosen(i.image)}
                      data-autofocus={chosen === i.image ? true : undefined}
                    />
                    <span className="choice-text">
                      <span className="choice-title mono">{i.image}</span>
                      <span className="choice-detail">
                        {formatGiB(Math.ceil(i.sizeBytes / GIB))}
                        {i.name !== null ? <> · was “{i.name}”</> : ' · no Portway metadata'}
                        {i.detached ? ' · detached' : ''}
                      </span>
                    </span>
                  </label>
                ))}
              </div>
            </fieldset>
          ) : null}
          {image && canKeep ? (
            <label className="radio">
              <input type="checkbox" checked={keep} onChange={(e) => setKeep(e.target.checked)} data-testid="attach-keep" />
              Keep its disk id, name, ACL, CHAP and IP addresses
            </label>
          ) : null}
          {error ? (
            <p className="alert alert-error" role="alert" data-testid="attach-error">
              {error.message}
            </p>
          ) : null}
          <FormActions
            label={canKeep && keep ? 'Attach image' : 'Next: disk settings'}
            busy={busy}
            disabled={!image || busy}
            onCancel={onClose}
            testId="attach-next"
          />
        </form>
      )}
    </Modal>
  );
}
