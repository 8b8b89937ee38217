<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en_US">
<context>
    <name>CodeEntry</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="231"/>
        <source>Code from your fob</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="232"/>
        <source>Enter the code from your fob</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="234"/>
        <source>Your username, then the 6 or 8 digits your fob shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="238"/>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="239"/>
        <source>Username</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="243"/>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="244"/>
        <source>Code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="258"/>
        <source>Sign in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="260"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="261"/>
        <source>Cancel the code entry</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>KioskWindow</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="157"/>
        <source>Tokenstile sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="314"/>
        <source>Signed out: the card was taken out.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="315"/>
        <source>Your session has ended: sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="465"/>
        <source>Someone else is signed in here: they must sign out first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="475"/>
        <source>Sign-in cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="494"/>
        <source>Cancelling…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="502"/>
        <source>Touch your key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="504"/>
        <source>Touch the button or the gold disc on your security key now.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="594"/>
        <source>Signed out here, but the sign-in service could not be told: tell the service desk if this keeps happening.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="645"/>
        <source>Reading your key…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="646"/>
        <source>Reading your card…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="647"/>
        <source>Checking your code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="649"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="804"/>
        <source>Checking…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="650"/>
        <source>This takes a moment.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="679"/>
        <source>Tap or insert your security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="681"/>
        <source>Insert your card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="683"/>
        <source>Enter the code from your fob</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="685"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="772"/>
        <source>Sign in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="693"/>
        <source>Signed in as %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="697"/>
        <source>Signed in since %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="700"/>
        <source>Session time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="701"/>
        <source>%1 is signed in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="713"/>
        <source>%1 h %2 min left in this session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="716"/>
        <source>%1 min left in this session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="717"/>
        <source>%1 s left in this session</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="732"/>
        <source>Message</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="757"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="758"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="760"/>
        <source>Tokenstile</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="765"/>
        <source>Time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="779"/>
        <source>Security key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="780"/>
        <source>Tap it on the reader or plug it in, then touch it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="783"/>
        <source>Smart card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="783"/>
        <source>Insert your card, then enter its PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="786"/>
        <source>Code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="786"/>
        <source>Type your username and the code your fob shows.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="792"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="876"/>
        <source>Enter a code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="802"/>
        <source>Working</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="807"/>
        <source>Details</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="809"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="810"/>
        <source>Cancel the sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="844"/>
        <source>Lock</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="845"/>
        <source>Lock the screen</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="847"/>
        <source>Sign out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="863"/>
        <location filename="../../app/tokenstile/kiosk/window.py" line="864"/>
        <source>Locked</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="870"/>
        <source>To unlock, use the same key, card or code. Someone else signing in signs them out.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/window.py" line="877"/>
        <source>Unlock with a code</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Messages</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="54"/>
        <source>Wrong PIN: try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="57"/>
        <source>Wrong PIN: 1 try left before the card locks.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="60"/>
        <source>Wrong PIN: 1 try left before the key locks.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="62"/>
        <source>Wrong PIN: %1 tries left before the card locks.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="65"/>
        <source>Wrong PIN: %1 tries left before the key locks.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="73"/>
        <source>Your card&apos;s PIN is blocked: take the card to the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="77"/>
        <source>The card was taken out too soon: insert it again to sign in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="81"/>
        <source>The card was reset by another program: insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="85"/>
        <source>Another program is using the card: take it out and insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="89"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="93"/>
        <source>The card could not be read: take it out and insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="97"/>
        <source>The card could not be found: insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="101"/>
        <source>This card cannot sign in here: use your work card, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="105"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="109"/>
        <source>This card has no sign-in certificate: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="113"/>
        <source>This card cannot be read here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="117"/>
        <source>This card cannot sign in here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="121"/>
        <source>A card PIN is 6 to 8 digits: try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="125"/>
        <source>The card reader is not working: use your key or code, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="129"/>
        <source>The card reader is not connected: use your key or code, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="133"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="170"/>
        <source>Sign-in cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="138"/>
        <source>No security key was found: insert or tap your key.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="142"/>
        <source>Your key&apos;s PIN is blocked: take the key to the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="146"/>
        <source>Three wrong PINs in a row: take the key out, insert it again and retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="150"/>
        <source>Your key has no PIN yet: see the service desk to set one.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="154"/>
        <source>Your key needs its PIN: tap or insert it again and enter the PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="158"/>
        <source>Your key&apos;s fingerprint check is blocked: tap it again and use its PIN.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="162"/>
        <source>Your fingerprint was not recognised: tap your key and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="166"/>
        <source>The key was not touched in time: tap or insert it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="174"/>
        <source>The key was taken away too soon: insert or tap it again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="178"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="225"/>
        <source>This key is not enrolled here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="182"/>
        <source>The sign-in was refused on the key: tap it again to retry.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="186"/>
        <source>This key cannot sign in here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="190"/>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="194"/>
        <source>The key could not be read: take it out and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="199"/>
        <source>The sign-in service cannot be reached: retrying…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="203"/>
        <source>This workstation cannot keep your session (its keychain is not available): see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="208"/>
        <source>You are not signed in: sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="213"/>
        <source>The sign-in service is busy: retrying…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="221"/>
        <source>This card is not enrolled here: see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="229"/>
        <source>That username and code do not match: check the code on your fob and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="233"/>
        <source>Sign-in was refused: try again, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="241"/>
        <source>Something went wrong: try again, or see the service desk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/messages.py" line="255"/>
        <source>Too many tries: wait %1 seconds, then try again.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PinPad</name>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="122"/>
        <source>Enter your PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="125"/>
        <source>PIN hint</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="132"/>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="133"/>
        <source>PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="145"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="146"/>
        <source>Cancel the sign-in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="165"/>
        <source>Delete the last digit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="170"/>
        <source>OK</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="171"/>
        <source>Confirm the PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="191"/>
        <source>Enter your card&apos;s PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="193"/>
        <source>Enter your key&apos;s PIN</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../app/tokenstile/kiosk/widgets.py" line="199"/>
        <source>Type it here or on your keyboard, then press OK.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
