// A confirmation in a modal <dialog>: the browser traps focus in it, Escape
// cancels, and focus returns to the button that opened it.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export interface ConfirmProps {
  /** label of the button that opens the dialog. */
  label: string;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  disabled?: boolean;
  /** onConfirm runs the action; a thrown error is shown in the dialog. */
  onConfirm: () => Promise<void>;
  buttonClass?: string;
}

export function Confirm({ label, title, children, confirmLabel, danger, disabled, onConfirm, buttonClass }: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [open, setOpen] = useState(false);

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);

  const confirm = async () => {
    setBusy(true);
    setError('');
    try {
      await onConfirm();
      setOpen(false);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const id = title.replace(/\W+/g, '-').toLowerCase();
  return (
    <>
      <button type="button" class={buttonClass ?? (danger ? 'danger' : '')} disabled={disabled} onClick={() => setOpen(true)}>
        {label}
      </button>
      <dialog ref={ref} aria-labelledby={`${id}-t`} aria-describedby={`${id}-d`} onClose={() => setOpen(false)}>
        <h2 id={`${id}-t`}>{title}</h2>
        <div id={`${id}-d`}>{children}</div>
        {error && (
          <p class="alert error" role="alert">
            {error}
          </p>
        )}
        <div class="buttons">
          <button type="button" onClick={() => setOpen(false)} disabled={busy} autofocus>
            Cancel
          </button>
          <button type="button" class={danger ? 'danger' : 'primary'} onClick={confirm} disabled={busy} aria-busy={busy}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </dialog>
    </>
  );
}
